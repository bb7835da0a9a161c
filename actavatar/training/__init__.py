"""Training: data synthesis and the two training stages."""
