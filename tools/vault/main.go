// Command vault is HashiCorp Vault built from source, for sandgate's tests
// only: they start it as a dev server on loopback to exercise the Vault
// Transit key-encryption path. It lives in its own module so that Vault's
// 500+ requirements never enter sandgate's go.mod.
package main

import (
	"os"

	"github.com/hashicorp/vault/command"
)

func main() {
	os.Exit(command.Run(os.Args[1:]))
}
