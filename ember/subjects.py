"""Every JetStream stream, subject, consumer and KV bucket name, in one place.

    TASKS  (work queue)   ember.tasks.scheduler.<verb>       -> durable "scheduler"
                          ember.tasks.volume.<host>.<verb>   -> durable "volume-<host>"
    EVENTS (limits, 7 d)  ember.events.volumes.<id>          status changes of a volume
                          ember.events.operations.<id>       an operation finished
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


def scheduler_task(verb: str) -> str:
    return f"ember.tasks.scheduler.{verb}"


def volume_task(host: str, verb: str) -> str:
    return f"ember.tasks.volume.{host}.{verb}"


def volume_tasks(host: str) -> str:
    return f"ember.tasks.volume.{host}.>"


def volume_durable(host: str) -> str:
    return f"volume-{host}"


def volume_event(volume_id: str) -> str:
    return f"ember.events.volumes.{volume_id}"


def operation_event(operation_id: str) -> str:
    return f"ember.events.operations.{operation_id}"


def capability_key(host: str, backend: str, pool: str) -> str:
    return f"{host}.{backend}.{pool}"
