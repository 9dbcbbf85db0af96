"""What training and evaluation build on, with the feature definitions scoring uses: reading the
labelled data and the LM caches (data.py), the feature table and model fitting (table.py), and the
held-out folds (folds.py). The programs that run them are in scripts/."""
