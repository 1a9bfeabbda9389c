// Package packaging builds the vrouter Debian package (make deb) with nfpm
// and holds need-debs, the script through which make targets install the
// Debian packages they need.
package packaging
