"""Answer providers behind one Protocol (see ``base.py``)."""
