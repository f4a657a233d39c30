"""LocalStack plugins that fill what LocalStack 4.14 (community edition, no internet) lacks for `make deploy-local`.

Found by plux through spot_localstack_gaps-1.0.dist-info/entry_points.txt when this directory is on LocalStack's
PYTHONPATH (local/localstack.py puts it there). Each module names the gap it fills; none changes what LocalStack
does for anything it already does itself.
"""
