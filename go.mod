module github.com/vrouter/vrouter

go 1.26.0

require (
	github.com/google/go-cmp v0.7.0
	github.com/mdlayher/ndp v1.1.0
	github.com/vishvananda/netlink v1.3.1
	go.yaml.in/yaml/v3 v3.0.6
	golang.org/x/net v0.62.0
	golang.org/x/sys v0.50.0
)

require (
	github.com/vishvananda/netns v0.0.5 // indirect
	golang.org/x/text v0.43.0 // indirect
)
