"""A real botocore application, run as a child process by end-to-end tests.

It resolves credentials through botocore's own provider chain (the container provider
reads AWS_CONTAINER_CREDENTIALS_FULL_URI and AWS_CONTAINER_AUTHORIZATION_TOKEN), then calls
STS GetCallerIdentity on the endpoint given as the first argument. It prints one JSON
line: {"accessKeyId", "arn"} on success, {"error", "message"} on failure (exit 1).

Usage: /usr/bin/python3 botocore-client.py STS_ENDPOINT
"""

import json
import sys

import botocore.config
import botocore.session

try:
    session = botocore.session.get_session()
    credentials = session.get_credentials()
    if credentials is None:
        raise RuntimeError("botocore found no credentials")
    frozen = credentials.get_frozen_credentials()
    client = session.create_client(
        "sts", region_name="us-east-1", endpoint_url=sys.argv[1],
        config=botocore.config.Config(retries={"max_attempts": 1}),
    )
    identity = client.get_caller_identity()
    print(json.dumps({"accessKeyId": frozen.access_key, "arn": identity["Arn"], "method": credentials.method}))
except Exception as error:  # the test reads the class and message
    print(json.dumps({"error": type(error).__name__, "message": str(error)}))
    sys.exit(1)
