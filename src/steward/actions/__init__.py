"""Actions: tools the assistant calls on behalf of the asker, within the asker's own rights,
decided by a Cedar policy, confirmed or approved (four eyes, bound to the exact call), executed
at most once, every step on the audit chain (docs/actions.md)."""
