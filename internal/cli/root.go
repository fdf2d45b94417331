package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// ExitError carries a process exit status out of a command without printing anything more:
// the command has already said what went wrong.
type ExitError struct {
	Code int
}

func (e *ExitError) Error() string { return fmt.Sprintf("exit status %d", e.Code) }

// IO is where commands read and write; tests replace it.
type IO struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
}

// NewRootCommand builds the `ember` command tree writing to the given streams.
func NewRootCommand(stdio IO) *cobra.Command {
	root := &cobra.Command{
		Use:           "ember",
		Short:         "Ember: a self-hosted serverless platform that behaves like AWS Lambda",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(stdio.In)
	root.SetOut(stdio.Out)
	root.SetErr(stdio.Err)

	cf := &clientFlags{}
	root.AddCommand(
		newServerCommand(stdio),
		newDeployCommand(stdio, cf),
		newInvokeCommand(stdio, cf),
		newListCommand(stdio, cf),
		newRemoveCommand(stdio, cf),
		newLogsCommand(stdio, cf),
		newQueueCommand(stdio, cf),
	)
	return root
}

// Main runs the command line with args (without the program name) and returns the process
// exit status.
func Main(ctx context.Context, args []string, stdio IO) int {
	root := NewRootCommand(stdio)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var exit *ExitError
	if errors.As(err, &exit) {
		return exit.Code
	}
	fmt.Fprintf(stdio.Err, "ember: %v\n", err)
	return 1
}
