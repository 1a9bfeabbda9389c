// Package netwatchtest provides a fake netwatch.Source that tests drive:
// they send events, kill the subscription and make resubscribing fail.
package netwatchtest
