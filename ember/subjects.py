"""Every JetStream stream, subject, consumer and KV bucket name, in one place.

    TASKS  (work queue)   ember.tasks.scheduler.<verb>       -> durable "scheduler"
                          ember.tasks.volume.<host>.<verb>   -> durable "volume-<host>"
                          ember.tasks.backup.<verb>          -> durable "backup"
    EVENTS (limits, 7 d)  ember.events.<resource>.<id>       status changes, and the
                                                             operation each one finished
    KV ember-registry     <service>.<instance>  -> address, host   (TTL heartbeats)
    KV ember-capabilities <host>.<backend>.<pool> -> capacity report
"""

TASKS_STREAM = "EMBER_TASKS"
TASKS_SUBJECTS = "ember.tasks.>"
EVENTS_STREAM = "EMBER_EVENTS"
EVENTS_SUBJECTS = "ember.events.>"
REGISTRY_BUCKET = "ember-registry"
CAPABILITIES_BUCKET = "ember-capabilities"

SCHEDULER_DURABLE = "scheduler"
SCHEDULER_TASKS = "ember.tasks.scheduler.>"
BACKUP_DURABLE = "backup"
BACKUP_TASKS = "ember.tasks.backup.>"


def backup_task(verb: str) -> str:
    return f"ember.tasks.backup.{verb}"


def scheduler_task(verb: str) -> str:
    return f"ember.tasks.scheduler.{verb}"


def volume_task(host: str, verb: str) -> str:
    return f"ember.tasks.volume.{host}.{verb}"


def volume_tasks(host: str) -> str:
    return f"ember.tasks.volume.{host}.>"


def volume_durable(host: str) -> str:
    return f"volume-{host}"


def event(resource: str, resource_id: str) -> str:
    return f"ember.events.{resource}.{resource_id}"


def capability_key(host: str, backend: str, pool: str) -> str:
    return f"{host}.{backend}.{pool}"
