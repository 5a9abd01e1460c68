"""Chinese text classification: sentiment, risk categories and severity tiers.

No I/O here except loading the model artifact.
"""
