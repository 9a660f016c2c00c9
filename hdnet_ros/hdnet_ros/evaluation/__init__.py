"""Scoring the 2D stage on annotated real photos (a tool: uses the product, never used by it).

``annotations``: the annotated crowd and COCO photos, every set's joints mapped to COCO-17;
``scoring``: published skeletons against them (recall, OKS, PCK, joints taken from
another person).
"""
