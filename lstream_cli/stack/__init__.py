"""A stack from a SAM or CloudFormation template, for a local run (see docs/template.md)."""
