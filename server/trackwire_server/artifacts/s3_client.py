"""A botocore S3 client for the artifact root's store, made from the same options s3fs
takes, so that direct transfers (`direct.py`) sign for the store the server writes to."""

from __future__ import annotations


def botocore_client(options: dict):
    """A botocore S3 client from s3fs-style options (key, secret, token, endpoint_url,
    client_kwargs, config_kwargs); what they leave out, botocore finds as s3fs would (the
    AWS environment variables, config files, instance roles)."""
    import botocore.config
    import botocore.session

    client_kwargs = dict(options.get("client_kwargs") or {})
    config_kwargs = dict(options.get("config_kwargs") or {})
    s3_config = dict(config_kwargs.pop("s3", {}) or {})
    endpoint = options.get("endpoint_url") or client_kwargs.pop("endpoint_url", None)
    if endpoint:
        s3_config.setdefault("addressing_style", "path")
    config = botocore.config.Config(
        signature_version="s3v4",
        s3=s3_config,
        max_pool_connections=32,
        retries={"max_attempts": 3, "mode": "standard"},
        **config_kwargs,
    )
    session = botocore.session.get_session()
    return session.create_client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=options.get("key"),
        aws_secret_access_key=options.get("secret"),
        aws_session_token=options.get("token"),
        region_name=client_kwargs.pop("region_name", None) or options.get("region_name"),
        config=config,
        **{k: v for k, v in client_kwargs.items() if k in ("verify", "use_ssl")},
    )
