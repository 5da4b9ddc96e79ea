"""The API's contracts: request and response models, shapes, roles, errors, webhook signatures.

Depends on pydantic alone. The services build their APIs from these very models and the SDK
parses answers with them, so the two cannot drift apart.
"""
