package policy

import "errors"

// ErrLoad is wrapped by every error that prevents a policy set or a policy
// source from loading.
var ErrLoad = errors.New("policy set does not load")

// ErrUnsupportedSource is returned for a policy source this build cannot
// read: a path that is neither a directory nor a .tar.gz bundle, a URL scheme
// other than http(s), or a bundle with WebAssembly, plan or delta content.
var ErrUnsupportedSource = errors.New("unsupported policy source")

// ErrVerification is wrapped (next to ErrLoad) when a bundle's signature is
// missing, does not verify against the configured key, or does not match
// the bundle's files. Nothing from such a bundle is parsed or evaluated.
var ErrVerification = errors.New("bundle signature verification failed")

// ErrRoots is wrapped (next to ErrLoad) when two sources claim overlapping
// roots of the data document: OPA refuses overlapping bundle roots, and a
// source that shares a root with another could erase or shadow its policy.
var ErrRoots = errors.New("policy roots overlap")

// ErrFetch is wrapped (next to ErrLoad) when a bundle URL cannot be
// downloaded: a transport error, a timeout or an unexpected HTTP status.
var ErrFetch = errors.New("bundle download failed")

// ErrTests is wrapped (next to ErrLoad) when a candidate policy set fails
// its own Rego tests, so the Reloader keeps serving the previous set.
var ErrTests = errors.New("policy tests failed")
