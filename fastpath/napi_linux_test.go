package fastpath

import "testing"

// TestThreadedNAPIError: a failing threadedNAPI returns its error (having
// undone what it changed) instead of calling the restore function its
// failing return has just set to nil.
func TestThreadedNAPIError(t *testing.T) {
	restore, err := threadedNAPI("vrnonexist0", nil, 0)
	if err == nil {
		t.Fatal("threaded NAPI on an interface that does not exist: no error")
	}
	if restore != nil {
		t.Errorf("restore function %p with the error %v, want none", restore, err)
	}
}
