// Command warden-image writes Warden's container image, built from a
// static warden binary, as a tarball for `docker load` or `podman load`.
//
//	warden-image -binary bin/linux-amd64/warden -version 0.1.0 -out bin/warden-image.tar
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/warden-dev/warden/deploy/image"
)

func main() {
	bin := flag.String("binary", "", "static linux warden binary (CGO_ENABLED=0); its architecture is the image's")
	version := flag.String("version", "dev", "version label")
	tag := flag.String("tag", "", "image name and tag (default warden:VERSION)")
	out := flag.String("out", "", "tarball to write")
	flag.Parse()
	if *bin == "" || *out == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: warden-image -binary FILE -out FILE [-version V] [-tag NAME:TAG]")
		os.Exit(2)
	}
	if *tag == "" {
		*tag = "warden:" + *version
	}
	// SOURCE_DATE_EPOCH, when set, dates the image (reproducible builds);
	// otherwise it is dated 1970 and identical for the same binary.
	var created time.Time
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		var sec int64
		if _, err := fmt.Sscan(s, &sec); err != nil {
			fmt.Fprintf(os.Stderr, "warden-image: SOURCE_DATE_EPOCH=%q: not a number of seconds\n", s)
			os.Exit(2)
		}
		created = time.Unix(sec, 0).UTC()
	}
	img, err := image.Build(image.Config{Binary: *bin, Version: *version, Created: created})
	if err == nil {
		err = image.Write(*out, *tag, img)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "warden-image: %v\n", err)
		os.Exit(1)
	}
	arch, _ := image.Arch(*bin)
	fmt.Printf("%s: %s (linux/%s)\n", *out, *tag, arch)
}
