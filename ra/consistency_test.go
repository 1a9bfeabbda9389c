package ra

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/ndp"
)

func TestCompareRAs(t *testing.T) {
	pio := func(valid, pref time.Duration) *ndp.PrefixInformation {
		return &ndp.PrefixInformation{PrefixLength: 64, OnLink: true, ValidLifetime: valid, PreferredLifetime: pref,
			Prefix: netip.MustParseAddr("2001:db8::")}
	}
	ours := &ndp.RouterAdvertisement{CurrentHopLimit: 64, ReachableTime: 30 * time.Second, Options: []ndp.Option{
		ndp.NewMTU(1500), pio(3600*time.Second, 1800*time.Second),
		&ndp.DNSSearchList{Lifetime: time.Hour, DomainNames: []string{"Example.org."}},
	}}
	tests := []struct {
		name   string
		theirs *ndp.RouterAdvertisement
		dec    bool
		want   []Field
	}{
		{"unspecified values are not compared", &ndp.RouterAdvertisement{}, false, nil},
		{"same", &ndp.RouterAdvertisement{CurrentHopLimit: 64, ReachableTime: 30 * time.Second, Options: []ndp.Option{
			ndp.NewMTU(1500), pio(3600*time.Second, 1800*time.Second),
			&ndp.DNSSearchList{Lifetime: 10 * time.Second, DomainNames: []string{"example.org"}}}}, false, nil},
		{"everything differs", &ndp.RouterAdvertisement{CurrentHopLimit: 1, ManagedConfiguration: true, OtherConfiguration: true,
			ReachableTime: time.Second, RetransmitTimer: time.Second, Options: []ndp.Option{
				ndp.NewMTU(1400), pio(60*time.Second, 30*time.Second),
				&ndp.DNSSearchList{Lifetime: time.Hour, DomainNames: []string{"example.com"}}}}, false,
			[]Field{FieldHopLimit, FieldManaged, FieldOtherConfig, FieldReachableTime, FieldMTU, FieldValidLifetime, FieldPreferredLifetime, FieldDNSSL}},
		{"decrementing within slack", &ndp.RouterAdvertisement{Options: []ndp.Option{pio(3598*time.Second, 1801*time.Second)}}, true, nil},
		{"decrementing beyond slack", &ndp.RouterAdvertisement{Options: []ndp.Option{pio(3590*time.Second, 1800*time.Second)}}, true, []Field{FieldValidLifetime}},
		{"static: any difference", &ndp.RouterAdvertisement{Options: []ndp.Option{pio(3599*time.Second, 1800*time.Second)}}, false, []Field{FieldValidLifetime}},
		{"other prefix", &ndp.RouterAdvertisement{Options: []ndp.Option{&ndp.PrefixInformation{PrefixLength: 64, ValidLifetime: 1,
			Prefix: netip.MustParseAddr("2001:db8:1::")}}}, false, nil},
		{"zero-lifetime DNSSL is no list", &ndp.RouterAdvertisement{Options: []ndp.Option{
			&ndp.DNSSearchList{DomainNames: []string{"example.com"}}}}, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []Field
			for _, inc := range compareRAs(ours, tt.theirs, func(netip.Prefix) bool { return tt.dec }) {
				got = append(got, inc.field)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("inconsistent fields (-want +got):\n%s", diff)
			}
		})
	}
}
