"""The supervisors' daily log: a day's transcripts with annotations, live or archived, in every format."""
