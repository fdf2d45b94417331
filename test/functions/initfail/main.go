// Command initfail fails during initialisation, before it ever calls lambda.Start.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "initfail: cannot initialise: configuration missing")
	os.Exit(2)
}
