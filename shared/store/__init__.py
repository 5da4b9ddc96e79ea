"""Where state lives: MongoDB, object storage, presigned URLs, group commit, retention."""
