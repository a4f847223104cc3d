"""The test stack itself: images built in the builder reach the service only by pull."""


def test_stack_publish_then_pull_gives_same_id(stack, registry, uid):
    ref = f"{registry.host}/stack{uid}:1"
    built = stack.publish(ref, sizes=(2048, 1024))
    assert stack.pull(ref) == built


def test_stack_builder_images_are_not_in_service(stack, registry, uid):
    ref = f"{registry.host}/stack{uid}:1"
    stack.publish(ref)
    assert stack.podman("images", "-q", ref) == ""
