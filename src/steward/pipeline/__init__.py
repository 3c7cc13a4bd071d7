"""The stages of one question and what they keep: policy, conversations, cache, hand-off."""
