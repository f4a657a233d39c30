"""Every AWS call the handler makes lives in this package. Nothing outside it imports boto3."""

from spot_handler.aws.clients import AwsClients, default_clients

__all__ = ["AwsClients", "default_clients"]
