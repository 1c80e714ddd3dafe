"""`crosscheck explain`: the article's walk-through with a case's own numbers — as text
(walkthrough.py) and as one self-contained interactive page (page.py, page_assets.py)."""
