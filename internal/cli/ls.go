package cli

import (
	"fmt"
	"text/tabwriter"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/spf13/cobra"
)

func newListCommand(stdio IO, cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List functions",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			client, _, err := cf.lambdaClient(nil)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(stdio.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tRUNTIME\tMEMORY\tTIMEOUT\tLAST MODIFIED")
			pages := lambda.NewListFunctionsPaginator(client, &lambda.ListFunctionsInput{})
			for pages.HasMorePages() {
				page, err := pages.NextPage(commandContext(cmd))
				if err != nil {
					return fmt.Errorf("listing functions: %w", err)
				}
				for _, f := range page.Functions {
					fmt.Fprintf(tw, "%s\t%s\t%d MB\t%d s\t%s\n", aws.ToString(f.FunctionName), f.Runtime,
						aws.ToInt32(f.MemorySize), aws.ToInt32(f.Timeout), aws.ToString(f.LastModified))
				}
			}
			return tw.Flush()
		},
	}
	cf.register(cmd)
	return cmd
}

func newRemoveCommand(stdio IO, cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "rm NAME...",
		Aliases: []string{"delete"},
		Short:   "Delete functions",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			client, _, err := cf.lambdaClient(nil)
			if err != nil {
				return err
			}
			for _, name := range args {
				if _, err := client.DeleteFunction(commandContext(cmd), &lambda.DeleteFunctionInput{FunctionName: aws.String(name)}); err != nil {
					return fmt.Errorf("deleting %s: %w", name, err)
				}
				fmt.Fprintf(stdio.Err, "deleted %s\n", name)
			}
			return nil
		},
	}
	cf.register(cmd)
	return cmd
}
