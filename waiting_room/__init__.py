"""The waiting room of an on-sale: a provably fair, stock-aware queue in front of a show's holds.

``fairness`` (the seed, its commitment, the pre-queue order and its Merkle root), ``admission`` (how many
of the next entries may be admitted now, and when the show is sold out) and ``estimates`` (the wait and
the chance of a ticket shown to each entry) are pure and tested without a database; ``verify`` is the
command anyone can run to check an on-sale's order from what the service published.
"""
