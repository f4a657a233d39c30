"""Every AWS call the handler makes lives in this package. Nothing outside it imports boto3."""

from spot_handler.aws.clients import AccountClients, AwsClients, default_account_clients, default_clients

__all__ = ["AccountClients", "AwsClients", "default_account_clients", "default_clients"]
