"""Event notifications: what the local OSS server sends for a bucket configured in the notifications
file (oss_local/notify.py), driven by oss2 as an application would. One message per event, in the
payload Function Compute's OSS triggers deliver ({"events": [...]}), for answered requests only."""

import json
import time

import boto3
import oss2

from conftest import unique


def _queue(cloud, bucket):
    """An SQS queue of the source account receiving every event of `bucket`."""
    import local_cloud

    sqs = boto3.client("sqs", endpoint_url=cloud.env["LOCAL_ENDPOINT"], region_name=cloud.env["LOCAL_REGION"],
                       aws_access_key_id=cloud.src_root.id, aws_secret_access_key=cloud.src_root.secret)
    url = sqs.create_queue(QueueName=unique("conf-events"))["QueueUrl"]
    local_cloud.record_notifications(bucket, url)
    return sqs, url


def _events(sqs, url, want, seconds=10):
    got, deadline = [], time.time() + seconds
    while len(got) < want and time.time() < deadline:
        answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        for m in answer.get("Messages", []):
            body = json.loads(m["Body"])
            assert list(body) == ["events"] and len(body["events"]) == 1, body
            got.append(body["events"][0])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return got


def test_object_events_reach_the_queue_in_the_oss_trigger_format(cloud, bucket):
    sqs, url = _queue(cloud, bucket)
    b = cloud.oss2(cloud.src_root, bucket, v4=True)
    put = b.put_object("a dir/ключ 1.txt", b"hello")
    b.append_object("log.txt", 0, b"one\n")
    upload_id = b.init_multipart_upload("big.bin").upload_id
    part = b.upload_part("big.bin", upload_id, 1, b"x" * 1000)
    b.complete_multipart_upload("big.bin", upload_id, [oss2.models.PartInfo(1, part.etag)])
    b.delete_object("a dir/ключ 1.txt")
    # Refused: no event. (The function user may not write the source bucket.)
    try:
        cloud.oss2(cloud.function, bucket, v4=True).put_object("refused.txt", b"no")
    except oss2.exceptions.OssError:
        pass

    events = _events(sqs, url, 6)
    names = [(e["eventName"], e["oss"]["object"]["key"]) for e in events]
    assert names == [
        ("ObjectCreated:PutObject", "a dir/ключ 1.txt"),
        ("ObjectCreated:AppendObject", "log.txt"),
        ("ObjectCreated:InitiateMultipartUpload", "big.bin"),
        ("ObjectCreated:UploadPart", "big.bin"),
        ("ObjectCreated:CompleteMultipartUpload", "big.bin"),
        ("ObjectRemoved:DeleteObject", "a dir/ключ 1.txt"),
    ], names
    first = events[0]
    assert first["eventSource"] == "acs:oss" and first["region"] == cloud.region
    assert first["oss"]["bucket"] == {"arn": f"acs:oss:{cloud.region}:{cloud.src_account}:{bucket}", "name": bucket,
                                      "ownerIdentity": cloud.src_account}
    assert first["oss"]["object"]["size"] == 5
    assert first["oss"]["object"]["eTag"] == put.etag.upper() == put.etag
    assert events[4]["oss"]["object"]["size"] == 1000
    assert "size" not in events[5]["oss"]["object"]
    assert not _events(sqs, url, 1, seconds=2), "a refused request has no event"
