"""The search languages: MLflow's filter grammar (with OR and parentheses) and order_by.

Parsing yields a small syntax tree with no SQL in it; the store turns the tree
into a Peewee query (`store/run_queries.py`).
"""
