"""New annotators through a project with the onboarding gate and through one without, against
running services, as people would (docs/onboarding.md); what it costs the reviewers.

The model of a new annotator (written here because the figures mean nothing without it):
- Each object of a scene is drawn right with probability `q` (the person's care and
  understanding), else wrong: missed, or its box shifted half its width. Everyone starts new
  at `Q_START`.
- A learner closes `LEARN` of the gap between `q` and `Q_BEST` each time they are shown
  what they did wrong: a training task's feedback with a mistake in it, or a reviewer's
  rejection (with its comment). A non-learner's `q` never moves.
- The simulated reviewer accepts a submission when every object is right (the simulator
  knows the scene's truth), else rejects it; each review costs `REVIEW_S` of reviewer time
  and each rejection `REJECT_S` more (the comment). Training and exam tasks are scored
  against their gold items by review itself: no reviewer time.
- A person who fails the exam `GIVE_UP_AFTER` times stops trying (the vendor moves them).
- An admitted person whose skill falls under the project's `min_skill` is sent back to
  training by review; they train again (and learn, if they do) and retake the exam.

Each mode labels the same `PRODUCTION` scenes until every one is accepted: `gated` (training,
exam, production for the admitted) and `open` (everyone on production from the start).
Turn-based and seeded: one call at a time, each person in turn, so a run is repeatable.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from aviary_devkit.processes import ServiceSet
from aviary_devkit.sim.flow import shapes_match, spoil, truth_shapes
from aviary_devkit.sim.scenes import CLASSES, Scene, generate_scene

Q_START = 0.6
Q_BEST = 0.98
LEARN = 0.35
LEARNERS = 5
NON_LEARNERS = 3
GOLD = 16  # scenes with known answers (about half for training, half for exams)
PRODUCTION = 60
REVIEW_S = 20.0
REJECT_S = 15.0
GIVE_UP_AFTER = 2
# A project's choice (docs/onboarding.md): a short training, an exam of five that a careless
# person rarely passes by luck, and back to training when the skill falls.
ONBOARDING = {
    "training_tasks": 6,
    "exam_tasks": 5,
    "pass_mark": 0.85,
    "retry_after_hours": 0,
    "min_skill": 0.7,
}
ONTOLOGY = {"classes": [{"id": i + 1, "name": name} for i, name in enumerate(CLASSES)]}
REASONS = ["missing object", "loose box"]
MAX_ROUNDS = 4000  # turns, at most: a run that does not finish is a failure, not a figure
STALL_TURNS = 40  # turns in a row with nothing submitted or reviewed: the run is stuck
RECHECK_EVERY = 5  # turns between looks at who review sent back to training


@dataclass
class Person:
    name: str
    token: str
    learns: bool
    q: float = Q_START
    failed_exams: int = 0
    gave_up: bool = False

    def draw(self, scene: Scene, rng: random.Random) -> list[dict[str, Any]]:
        """The person's shapes for a scene: each object right with probability q."""
        shapes = []
        for shape in truth_shapes(scene):
            if rng.random() < self.q:
                shapes.append(shape)
            elif rng.random() < 0.5:
                shapes.extend(spoil([shape], rng, scene.width))  # shifted
            # else: missed
        return shapes

    def shown_a_mistake(self) -> None:
        if self.learns:
            self.q += LEARN * (Q_BEST - self.q)


@dataclass
class Outcome:
    submissions: int = 0
    rejected: int = 0
    accepted: int = 0
    reviewer_s: float = 0.0
    admitted: set[str] = field(default_factory=set)  # people admitted at least once
    retrained: int = 0  # times someone was sent back to training and trained again
    onboarding_tasks: int = 0
    seconds: float = 0.0
    people: list[tuple[str, bool, float]] = field(default_factory=list)

    @property
    def rework_share(self) -> float:
        return self.rejected / self.submissions if self.submissions else 0.0

    @property
    def accepted_per_reviewer_hour(self) -> float:
        return self.accepted / (self.reviewer_s / 3600) if self.reviewer_s else 0.0


class OnboardingSim:
    def __init__(self, services: ServiceSet, http: httpx.Client, seed: int) -> None:
        self.services = services
        self.http = http
        self.seed = seed
        self.operator = services.settings.operator_key.get_secret_value()
        self.rng = random.Random(seed)
        self.truth: dict[str, Scene] = {}

    # ----- calls ---------------------------------------------------------------------------

    def call(self, method: str, service: str, path: str, token: str, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}", **kw.pop("headers", {})}
        return self.http.request(method, self.services.url(service) + path, headers=headers, **kw)

    def ok(self, method: str, service: str, path: str, token: str, **kw: Any) -> Any:
        response = self.call(method, service, path, token, **kw)
        if response.status_code >= 300:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:300]}")
        return response.json() if response.content else None

    def token(self, org: str, role: str, subject: str) -> str:
        body = {"org_id": org, "role": role, "subject": subject}
        return str(self.ok("POST", "ingest", "/v1/tokens", self.operator, json=body)["token"])

    def org(self, name: str, kind: str) -> str:
        body = {"name": name, "kind": kind}
        return str(self.ok("POST", "ingest", "/v1/orgs", self.operator, json=body)["id"])

    def upload(self, client: str, batch: str, scene: Scene) -> str:
        path = f"/v1/batches/{batch}/items"
        headers = {"content-type": "image/jpeg"}
        item = self.ok("POST", "ingest", path, client, content=scene.jpeg_bytes(), headers=headers)
        self.truth[item["id"]] = scene
        return str(item["id"])

    # ----- one mode ------------------------------------------------------------------------

    def run(self, gated: bool) -> Outcome:
        started = time.monotonic()
        tag = f"{'gated' if gated else 'open'}-{self.seed}"
        client_org, vendor = (
            self.org(f"client {tag}", "client"),
            self.org(f"vendor {tag}", "vendor"),
        )
        client = self.token(client_org, "client", "client")
        reviewer = self.token(vendor, "reviewer", "reviewer")
        people = [
            Person(f"ann-{n}", self.token(vendor, "annotator", f"ann-{n}"), n < LEARNERS)
            for n in range(LEARNERS + NON_LEARNERS)
        ]
        project = self.ok(
            "POST",
            "ingest",
            "/v1/projects",
            client,
            json={
                "name": f"Streets {tag}",
                "ontology": ONTOLOGY,
                "vendors": [{"vendor_id": vendor, "share": 1.0}],
                "review": {"mode": "all"},
                "reject_reasons": REASONS,
                **({"onboarding": ONBOARDING} if gated else {}),
            },
        )["id"]
        outcome = Outcome()
        if gated:
            self.seed_gold(client, vendor, reviewer, project)
            for person in people:
                self.onboard(person, project, outcome)
        batch = self.ok("POST", "ingest", f"/v1/projects/{project}/batches", client, json={})["id"]
        first = 10_000 * (self.seed + 1) + (5_000 if gated else 0)
        for n in range(PRODUCTION):
            self.upload(client, batch, generate_scene(first + n))
        self.produce(people, reviewer, client, batch, outcome, project if gated else None)
        outcome.seconds = time.monotonic() - started
        outcome.people = [(p.name, p.learns, round(p.q, 3)) for p in people]
        return outcome

    def seed_gold(self, client: str, vendor: str, reviewer: str, project: str) -> None:
        """A veteran the vendor admin lets in labels the gold scenes (accepted, not counted);
        the client marks them gold with their truth."""
        admin = self.token(vendor, "vendor_admin", "lead")
        veteran = Person("veteran", self.token(vendor, "annotator", "veteran"), False, q=1.0)
        path = f"/v1/projects/{project}/onboarding/veteran"
        for _ in range(100):  # until review has the project (its event is on its way)
            let_in = self.call("PUT", "review", path, admin, json={"reason": "seeds the gold"})
            if let_in.status_code == 200:
                break
            time.sleep(0.1)
        else:
            raise RuntimeError(f"the veteran was never let in: {let_in.text}")
        batch = self.ok("POST", "ingest", f"/v1/projects/{project}/batches", client, json={})["id"]
        items = [
            self.upload(client, batch, generate_scene(900_000 + self.seed * 100 + n))
            for n in range(GOLD)
        ]
        done = 0
        for _ in range(MAX_ROUNDS):
            if done == GOLD:
                break
            got = self.call(
                "POST", "dispatch", "/v1/tasks/next", veteran.token, params={"wait_s": 1}
            )
            if got.status_code != 200:
                continue
            task = got.json()
            shapes = truth_shapes(self.truth[task["item_id"]])
            body = {"lease_id": task["lease_id"], "annotation": {"shapes": shapes}}
            self.ok("POST", "dispatch", f"/v1/tasks/{task['id']}/submit", veteran.token, json=body)
            done += 1
        for item in items:
            body = {"item_id": item, "annotation": {"shapes": truth_shapes(self.truth[item])}}
            for _ in range(100):
                created = self.call(
                    "POST", "review", f"/v1/projects/{project}/gold", client, json=body
                )
                if created.status_code == 201:
                    break
                time.sleep(0.1)
        # The veteran's reviews are setup, not the work measured.
        while self.review_one(reviewer, None, count=False):
            pass

    def onboard(self, person: Person, project: str, outcome: Outcome) -> None:
        """Training with feedback, then the exam, until admitted or given up."""
        path = f"/v1/projects/{project}/onboarding/next"
        for _ in range(MAX_ROUNDS):
            got = self.call("POST", "dispatch", path, person.token)
            if got.status_code == 409:
                code = got.json()["error"]["code"]
                if code == "already_admitted":
                    outcome.admitted.add(person.name)
                    return
                if code == "being_scored":
                    time.sleep(0.1)
                    if self.failed_again(person, project):
                        return
                    continue
                raise RuntimeError(f"onboarding: {got.text}")
            if got.status_code != 200:
                raise RuntimeError(f"onboarding: {got.status_code} {got.text}")
            task = got.json()
            scene = self.scene_of_gold(task)
            shapes = person.draw(scene, self.rng)
            body = {"lease_id": task["lease_id"], "annotation": {"shapes": shapes}}
            sent = self.ok(
                "POST", "dispatch", f"/v1/tasks/{task['id']}/submit", person.token, json=body
            )
            outcome.onboarding_tasks += 1
            if task["stage"] == "training":
                told = self.feedback(person, sent["submission_id"])
                if told["wrong"]:
                    person.shown_a_mistake()
        raise RuntimeError(f"{person.name} never finished onboarding")

    def failed_again(self, person: Person, project: str) -> bool:
        """Whether the person's latest exam failed, once more than they will try."""
        mine = self.ok("GET", "review", "/v1/onboarding/me", person.token)
        record = next((r for r in mine if r["project_id"] == project), None)
        if record is None:
            return False
        person.failed_exams = sum(a["passed"] is False for a in record["attempts"])
        person.gave_up = person.failed_exams >= GIVE_UP_AFTER
        return person.gave_up

    def scene_of_gold(self, task: dict[str, Any]) -> Scene:
        return self.truth[task["item_id"]]

    def feedback(self, person: Person, submission_id: str) -> dict[str, Any]:
        for _ in range(200):
            got = self.call("GET", "review", f"/v1/feedback/{submission_id}", person.token)
            if got.status_code == 200:
                return dict(got.json())
            time.sleep(0.05)
        raise RuntimeError(f"no feedback for {submission_id}")

    def produce(
        self,
        people: list[Person],
        reviewer: str,
        client: str,
        batch: str,
        outcome: Outcome,
        gated: str | None,
    ) -> None:
        """Each person in turn takes a task (if dispatch gives them one), the reviewer in
        turn decides one, until the batch's every item is accepted. In a gated project,
        people review sent back to training train again."""
        idle = 0
        for turn in range(MAX_ROUNDS):
            before = (outcome.submissions, outcome.accepted + outcome.rejected)
            for person in people:
                got = self.call("POST", "dispatch", "/v1/tasks/next", person.token)
                if got.status_code != 200:
                    continue
                task = got.json()
                shapes = person.draw(self.truth[task["item_id"]], self.rng)
                body = {"lease_id": task["lease_id"], "annotation": {"shapes": shapes}}
                self.ok(
                    "POST", "dispatch", f"/v1/tasks/{task['id']}/submit", person.token, json=body
                )
                outcome.submissions += 1
            by_name = {p.name: p for p in people}
            while self.review_one(reviewer, outcome, people=by_name):
                pass
            if turn % RECHECK_EVERY == RECHECK_EVERY - 1:
                progress = self.ok("GET", "ingest", f"/v1/batches/{batch}", client)["progress"]
                if progress["accepted"] >= PRODUCTION:
                    return
                if gated is not None:
                    self.retrain(people, gated, outcome)
            idle = (
                idle + 1
                if (outcome.submissions, outcome.accepted + outcome.rejected) == before
                else 0
            )
            if idle >= STALL_TURNS:
                raise RuntimeError(
                    f"stuck: {STALL_TURNS} turns with nothing submitted or reviewed "
                    f"(people: {[(p.name, p.gave_up) for p in people]})"
                )
        raise RuntimeError("the production batch was never fully accepted")

    def retrain(self, people: list[Person], project: str, outcome: Outcome) -> None:
        """Those sent back to training (their skill fell under `min_skill`) train again."""
        for person in people:
            if person.gave_up:
                continue
            mine = self.ok("GET", "review", "/v1/onboarding/me", person.token)
            record = next((r for r in mine if r["project_id"] == project), None)
            if record is not None and not record["admitted"] and person.name in outcome.admitted:
                outcome.retrained += 1
                self.onboard(person, project, outcome)

    def review_one(
        self,
        reviewer: str,
        outcome: Outcome | None,
        count: bool = True,
        people: dict[str, Person] | None = None,
    ) -> bool:
        got = self.call("POST", "review", "/v1/reviews/next", reviewer, params={"wait_s": 0.3})
        if got.status_code != 200:
            return False
        review = got.json()
        url = f"/v1/reviews/{review['id']}"
        right = shapes_match(review["annotation"]["shapes"], self.truth[review["item_id"]])
        if right:
            self.ok("POST", "review", f"{url}/accept", reviewer)
        else:
            body = {"reason": REASONS[0], "comment": "Check every object; fit each box."}
            self.ok("POST", "review", f"{url}/reject", reviewer, json=body)
            if people is not None and (person := people.get(review["annotator_id"])):
                person.shown_a_mistake()
        if count and outcome is not None:
            outcome.reviewer_s += REVIEW_S + (0.0 if right else REJECT_S)
            outcome.accepted += right
            outcome.rejected += not right
        return True
