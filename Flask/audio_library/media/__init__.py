"""What a file is: audio detection and duration, the container parsers, tags and covers, and FFmpeg.

FFmpeg, through PyAV, is the second judge of uploads and the transcoder of stored files, always in a child:
untrusted bytes reach it only in `child.py`, a program of its own started by `sandbox.py` with a CPU-time
limit, an address-space limit, a file-size limit, a wall-clock timeout and no descriptor but the file it
works on. `second_judge.py` decides from what the child measured whether a file the built-in parsers did not
accept is audio anyway; `library/playable_copies.py` makes and caches the streams a browser can play.
"""
