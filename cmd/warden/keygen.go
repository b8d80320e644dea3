package main

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
)

func init() {
	register("keygen", command{usage: "", help: "print a new key for --encrypt (gossip encryption)", run: runKeygen})
}

func runKeygen(args []string) error {
	if helpAsked(args) {
		return printVerbUsage("keygen")
	}
	if len(args) > 0 {
		return usagef("usage: warden keygen")
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	fmt.Println(base64.StdEncoding.EncodeToString(key))
	return nil
}
