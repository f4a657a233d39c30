"""The PublishBatch stream of a batch's (account, region) groups: their partial requests are pooled, every alert goes
out once, failures come back to the group that sent the alert, and no group waits for one that never publishes."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from spot_handler.alerting.publishing import BatchPublisher
from spot_handler.aws.sns import OutgoingAlert


class RecordingSns:
    """Stands in for the SNS client: keeps every PublishBatch request; refuses the entries whose subject says so."""

    def __init__(self):
        self.requests: list[list[dict]] = []
        self._lock = threading.Lock()

    def publish_batch(self, TopicArn, PublishBatchRequestEntries):
        assert len(PublishBatchRequestEntries) <= 10
        assert len({e["Id"] for e in PublishBatchRequestEntries}) == len(PublishBatchRequestEntries)
        with self._lock:
            self.requests.append(PublishBatchRequestEntries)
        failed = [e for e in PublishBatchRequestEntries if e["Subject"].startswith("refused")]
        return {
            "Successful": [{"Id": e["Id"]} for e in PublishBatchRequestEntries if e not in failed],
            "Failed": [{"Id": e["Id"], "Code": "KMSDisabled", "Message": "key disabled"} for e in failed],
        }

    def subjects(self) -> list[str]:
        return [entry["Subject"] for request in self.requests for entry in request]


def alerts(group: str, count: int, refused: set[int] = frozenset()) -> list[OutgoingAlert]:
    return [
        OutgoingAlert(str(i), f"{'refused' if i in refused else 'alert'} {group}-{i}", "{}", {"account_id": group})
        for i in range(count)
    ]


def publish_all(publisher: BatchPublisher, given: dict[int, list[OutgoingAlert]]) -> dict[int, dict[str, str]]:
    with ThreadPoolExecutor(len(given)) as pool:
        futures = {group: pool.submit(publisher.publish, group, group_alerts) for group, group_alerts in given.items()}
        return {group: future.result(timeout=30) for group, future in futures.items()}


def test_the_groups_partial_requests_are_pooled_and_every_alert_goes_out_once():
    # Given three groups of a batch with 13, 4 and 5 alerts (alone: 2 + 1 + 1 requests)
    sns = RecordingSns()
    publisher = BatchPublisher(sns, "arn:aws:sns:us-east-2:123456789012:alerts", groups=3, linger_seconds=30)
    given = {0: alerts("a", 13), 1: alerts("b", 4), 2: alerts("c", 5)}

    # When each publishes its alerts
    failed = publish_all(publisher, given)

    # Then 22 alerts went out in 3 requests, each alert once, and none failed
    assert failed == {0: {}, 1: {}, 2: {}}
    assert sorted(sns.subjects()) == sorted(a.subject for group in given.values() for a in group)
    assert len(sns.requests) == 3


def test_a_refused_alert_is_reported_to_its_own_group_under_its_own_id():
    sns = RecordingSns()
    publisher = BatchPublisher(sns, "arn:aws:sns:us-east-2:123456789012:alerts", groups=2, linger_seconds=30)

    failed = publish_all(publisher, {0: alerts("a", 3), 1: alerts("b", 2, refused={1})})

    assert failed == {0: {}, 1: {"1": "KMSDisabled: key disabled"}}
    assert len(sns.requests) == 1  # both partial requests in one


def test_a_group_that_never_publishes_holds_the_others_back_no_longer_than_the_linger():
    # Given two groups, one of which never hands in its alerts (still stuck, or gone without calling leave)
    sns = RecordingSns()
    publisher = BatchPublisher(sns, "arn:aws:sns:us-east-2:123456789012:alerts", groups=2, linger_seconds=0.2)

    # When the other publishes
    failed = publish_all(publisher, {0: alerts("a", 4)})

    # Then its alerts go out all the same (publish_all gives up after 30 s)
    assert failed == {0: {}} and len(sns.subjects()) == 4


def test_a_group_that_leaves_without_alerts_lets_the_others_publish_at_once():
    # Given a linger far longer than the test waits
    sns = RecordingSns()
    publisher = BatchPublisher(sns, "arn:aws:sns:us-east-2:123456789012:alerts", groups=2, linger_seconds=3600)
    done = threading.Event()

    def first_group():
        publisher.publish(0, alerts("a", 4))
        done.set()

    thread = threading.Thread(target=first_group)
    thread.start()

    # When the second group ends without alerting (it failed before its alerts)
    publisher.leave(1)

    # Then the first group's alerts go out without waiting for the linger
    assert done.wait(timeout=10) and len(sns.subjects()) == 4
    thread.join()


def test_a_failed_request_fails_the_alerts_of_every_group_in_it():
    class DownSns(RecordingSns):
        def publish_batch(self, TopicArn, PublishBatchRequestEntries):
            raise ConnectionError("SNS unreachable")

    publisher = BatchPublisher(DownSns(), "arn:aws:sns:us-east-2:123456789012:alerts", groups=2, linger_seconds=30)

    failed = publish_all(publisher, {0: alerts("a", 2), 1: alerts("b", 1)})

    assert set(failed[0]) == {"0", "1"} and set(failed[1]) == {"0"}
    assert "SNS unreachable" in failed[1]["0"]


def test_alerts_of_a_group_that_had_left_are_published_all_the_same():
    sns = RecordingSns()
    publisher = BatchPublisher(sns, "arn:aws:sns:us-east-2:123456789012:alerts", groups=2, linger_seconds=30)
    publisher.leave(0)

    assert publisher.publish(0, alerts("a", 3)) == {}
    assert len(sns.subjects()) == 3
