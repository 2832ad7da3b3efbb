// The guide's text lives in doc/guide.md (the tour's long form, its
// readiness table, the tracer's format, worked examples as doc-tests):
// this module is documentation only.
#![doc = include_str!("../doc/guide.md")]
