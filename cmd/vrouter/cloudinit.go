package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/vrouter/vrouter/cloudinit"
	"github.com/vrouter/vrouter/config"
	"github.com/vrouter/vrouter/daemon"
)

// cmdCloudinit prints #cloud-config user-data that installs, configures
// and starts vrouter in a service VM, or writes it into a config drive /
// NoCloud seed (--seed).
func cmdCloudinit(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vrouter cloudinit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		opts       cloudinit.Options
		configFile = fs.String("config", "", "vrouter config `FILE` to install (default: the embedded default)")
		seed       = fs.String("seed", "", "write a seed instead of printing: a `DIR`, or an ISO file when it ends in .iso")
		format     = fs.String("seed-format", string(cloudinit.ConfigDrive), "seed `FORMAT`: configdrive (OpenStack, label config-2) or nocloud (label cidata)")
		hostname   = fs.String("hostname", "vrouter", "instance `NAME` in the seed's metadata")
		instanceID = fs.String("instance-id", "", "instance `ID` in the seed's metadata (default: a random UUID)")
	)
	fs.StringVar(&opts.URL, "url", "", "download the binary from `URL` at first boot instead of using the one in the image (needs --sha256)")
	fs.StringVar(&opts.DebURL, "deb-url", "", "download the Debian package from `URL` at first boot and install it with apt, for images without it (needs --sha256)")
	fs.StringVar(&opts.SHA256, "sha256", "", "SHA-256 (`HEX`) of the file at --url or --deb-url")
	fs.Func("ha-priority", "render the config with ha.priority `N` instead of its own (the second router of an HA pair)", func(s string) error {
		n, err := strconv.ParseUint(s, 10, 8)
		if err != nil || n == 0 {
			return fmt.Errorf("%q: want 1..255", s)
		}
		opts.HAPriority = uint8(n)
		return nil
	})
	fs.Func("match-mac", "name the NIC with a MAC: `NAME=MAC`, e.g. eth0=fa:16:3e:11:11:11 (repeatable)", func(s string) error {
		n, err := cloudinit.ParseNIC(s)
		if err != nil {
			return err
		}
		opts.NICs = append(opts.NICs, n)
		return nil
	})
	fs.Func("part", "add a MIME part: `FILE[:CONTENT-TYPE]` (repeatable; the type is guessed from the first line when omitted)", func(s string) error {
		p, err := cloudinit.ReadPart(s)
		if err != nil {
			return err
		}
		opts.Parts = append(opts.Parts, p)
		return nil
	})
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: vrouter cloudinit [flags]\n\nPrints #cloud-config user-data for `openstack server create --user-data`.\n\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "vrouter cloudinit: unexpected arguments: %s\n", strings.Join(fs.Args(), " "))
		return exitUsage
	}
	sf := cloudinit.SeedFormat(*format)
	if sf != cloudinit.ConfigDrive && sf != cloudinit.NoCloud {
		fmt.Fprintf(stderr, "vrouter cloudinit: --seed-format %q: want configdrive or nocloud\n", *format)
		return exitUsage
	}
	if *configFile != "" {
		data, err := os.ReadFile(*configFile)
		if err != nil {
			fmt.Fprintf(stderr, "vrouter cloudinit: %v\n", err)
			return exitUsage
		}
		opts.ConfigName, opts.Config = *configFile, data
	}

	cc, cfg, err := cloudinit.Build(opts)
	if err == nil {
		// The components' rules too, as `vrouter check` on the VM will run
		// them: a config it would refuse is not rendered.
		err = daemon.Validate(cfg)
	}
	if err != nil {
		// config errors already read FILE:LINE:COL: path: message.
		fmt.Fprintf(stderr, "vrouter cloudinit: %v\n", err)
		return exitUsage
	}
	userData, err := cloudinit.UserData(cc, opts.Parts)
	if err != nil {
		fmt.Fprintf(stderr, "vrouter cloudinit: %v\n", err)
		return exitUsage
	}
	if *seed == "" {
		if _, err := stdout.Write(userData); err != nil {
			fmt.Fprintf(stderr, "vrouter cloudinit: %v\n", err)
			return exitFailure
		}
		return exitOK
	}

	id := *instanceID
	if id == "" {
		if id, err = cloudinit.NewInstanceID(); err != nil {
			fmt.Fprintf(stderr, "vrouter cloudinit: %v\n", err)
			return exitFailure
		}
	}
	s := cloudinit.Seed{Format: sf, InstanceID: id, Hostname: *hostname, UserData: userData}
	for _, n := range opts.NICs {
		nic := cloudinit.SeedNIC{MAC: n.MAC}
		if ifc := cfg.Interface(n.Name); ifc != nil && ifc.Role == config.RoleUpstream {
			nic.Type = "ipv6_slaac"
		}
		s.NICs = append(s.NICs, nic)
	}
	if err := cloudinit.WriteSeed(*seed, s); err != nil {
		fmt.Fprintf(stderr, "vrouter cloudinit: %v\n", err)
		return exitFailure
	}
	fmt.Fprintf(stderr, "vrouter cloudinit: wrote %s seed %s (instance %s, %d bytes of user-data)\n", sf, *seed, id, len(userData))
	return exitOK
}
