"""Issued tokens, recorded (never their value) so they can be listed and revoked. A revocation
commits with its `token.revoked` event: every service refuses the token within seconds."""

from __future__ import annotations

from datetime import UTC, datetime

from services.ingest.domain import envelope
from shared.errors import NotFound
from shared.events import TokenRevoked
from shared.messaging.outbox import Outbox
from shared.security.audit import AuditLog
from shared.security.auth import Principal
from shared.store.mongo import AsyncClientSession, Doc, ServiceDatabase, modify_by_id, utcnow


class TokenRepository:
    def __init__(self, db: ServiceDatabase, outbox: Outbox, audit: AuditLog) -> None:
        self.db = db
        self.outbox = outbox
        self.audit = audit
        self.tokens = db["tokens"]

    async def ensure_indexes(self) -> None:
        await self.tokens.create_index([("org_id", 1), ("issued_at", -1)])

    async def record(self, claims: Principal, actor: Principal) -> Doc:
        doc = {
            "_id": claims.jti,
            "org_id": claims.org,
            "role": claims.role.value,
            "subject": claims.sub,
            "vendor_id": claims.vendor,
            "issued_at": utcnow(),
            "expires_at": datetime.fromtimestamp(claims.exp, UTC),
            "issued_by": actor.sub,
            "revoked_at": None,
        }

        async def work(session: AsyncClientSession) -> None:
            await self.tokens.insert_one(doc, session=session)
            await self.audit.record(
                session,
                "token.issued",
                claims.jti,
                orgs=[claims.org],
                details={"role": claims.role.value, "subject": claims.sub},
                actor=actor,
            )

        await self.db.transaction(work)
        return doc

    async def newest(self, org_id: str | None, limit: int) -> list[Doc]:
        """The organisation's tokens (everyone's for None), newest first."""
        criteria = {} if org_id is None else {"org_id": org_id}
        return await self.tokens.find(criteria).sort("issued_at", -1).to_list(limit)

    async def of_subject(self, org_id: str, subject: str) -> list[Doc]:
        """The tokens issued to one person (their own export; the token itself is never kept)."""
        query = {"org_id": org_id, "subject": subject}
        return await self.tokens.find(query).sort("issued_at", 1).to_list(None)

    async def get(self, org_id: str | None, token_id: str) -> Doc:
        criteria: Doc = {"_id": token_id}
        if org_id is not None:
            criteria["org_id"] = org_id
        doc = await self.tokens.find_one(criteria)
        if doc is None:
            raise NotFound("token")
        return doc

    async def revoke_all_of(self, session: AsyncClientSession, org_id: str) -> int:
        """Revoke every live token of an organisation that is being deleted, telling every
        service, in the caller's transaction; returns how many."""
        live = await self.tokens.find(
            {"org_id": org_id, "revoked_at": None}, {"expires_at": 1}, session=session
        ).to_list(None)
        if not live:
            return 0
        await self.tokens.update_many(
            {"_id": {"$in": [t["_id"] for t in live]}},
            {"$set": {"revoked_at": utcnow(), "revoked_by": "deletion"}},
            session=session,
        )
        events = [
            envelope(TokenRevoked(jti=t["_id"], org_id=org_id, expires_at=t["expires_at"]), org_id)
            for t in live
        ]
        await self.outbox.add(session, *events)
        return len(live)

    async def revoke(self, token: Doc, actor: Principal) -> Doc:
        """Mark revoked and tell every service, in one transaction; revoking twice is a no-op."""
        if token["revoked_at"] is not None:
            return token
        revoked: Doc | None = None

        async def work(session: AsyncClientSession) -> None:
            nonlocal revoked
            revoked = await modify_by_id(
                self.tokens,
                token["_id"],
                {"$set": {"revoked_at": utcnow(), "revoked_by": actor.sub}},
                session=session,
                when=lambda doc: doc.get("revoked_at") is None,
            )
            if revoked is None:  # revoked concurrently: that transaction published it
                return
            event = TokenRevoked(
                jti=token["_id"], org_id=token["org_id"], expires_at=token["expires_at"]
            )
            await self.outbox.add(session, envelope(event, token["org_id"]))
            await self.audit.record(
                session, "token.revoked", token["_id"], orgs=[token["org_id"]], actor=actor
            )

        await self.db.transaction(work)
        self.outbox.notify()
        return revoked or await self.get(None, token["_id"])
