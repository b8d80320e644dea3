// Package systemd holds Warden's systemd unit (warden.service), its
// sysusers.d entry and the example environment file; its test checks them
// with systemd's own tools.
package systemd
