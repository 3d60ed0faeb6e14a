"""Who may reach and change the library: the Host allowlist, the cross-origin guard, users and sign-in."""
