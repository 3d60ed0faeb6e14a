"""Hypothesis strategies for the parts of Host header values: ports as they follow a host, and DNS names."""

from hypothesis import strategies as st

from host_rules import parse_host


ports = st.one_of(st.just(""), st.integers(0, 65535).map(lambda port: f":{port}"), st.just(":"))
labels = st.from_regex(r"[a-zA-Z0-9_-]{1,20}", fullmatch=True)
dns_names = st.lists(labels, min_size=1, max_size=5).map(".".join).filter(lambda name: parse_host(name) is not None)
