"""`attn explore`: the interactive explorer, in the terminal (Textual).

session.py holds one sentence's numbers (every layer and head, worked out once); app.py draws
them and follows the keys. Textual is imported only here, so the other commands never load
it.
"""
