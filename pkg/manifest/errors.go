package manifest

import "errors"

// ErrNoObjects is returned by Read, wrapped with the paths it was given, when
// the inputs hold no object at all: no files matched, every file was empty or
// held only comments, or every List was empty. It is an error rather than an
// empty result because a CI job pointed at the wrong folder must fail loudly
// instead of reporting "nothing denied". A caller for which "nothing" is a
// legitimate answer (an empty cluster dump given as --state) can match it with
// errors.Is and carry on.
var ErrNoObjects = errors.New("no Kubernetes objects found")

// Error is a problem with one input position: a file or directory that cannot
// be read, invalid YAML or JSON, or a document that is not a usable object.
//
// Source is "FILE:LINE" when the problem has a line ("-:LINE" for stdin) and
// just "FILE" when it has none (an unreadable path, or a rare YAML error the
// parser reports without a position). Reason is complete on its own: it says
// what is wrong and, where there is one, how to fix it. Err is the underlying
// I/O error (for example one matching fs.ErrNotExist or fs.ErrPermission) and
// is nil when the content itself is wrong; it is kept for errors.Is and
// errors.As and is not repeated in the message.
type Error struct {
	Source string
	Reason string
	Err    error
}

// Error returns "SOURCE: REASON", e.g. "deploy/app.yaml:12: Deployment has no
// metadata.name; …".
func (e *Error) Error() string {
	return e.Source + ": " + e.Reason
}

// Unwrap returns the underlying I/O error, or nil when the problem is the
// content of the input.
func (e *Error) Unwrap() error {
	return e.Err
}
