package esm

import (
	"github.com/ember-serverless/ember/internal/lambdaerr"
)

// checkKafka checks a self-managed Kafka source's members.
func checkKafka(in *Input) error {
	eps := in.SelfManagedEventSource.Endpoints
	servers := eps[KafkaBootstrapServersType]
	if len(eps) != 1 || len(servers) == 0 {
		return lambdaerr.InvalidParameter("SelfManagedEventSource must have Endpoints with %s.", KafkaBootstrapServersType)
	}
	if len(servers) > 10 {
		return constraint(servers, "selfManagedEventSource.endpoints", "Member must have length less than or equal to 10")
	}
	if len(in.Topics) != 1 {
		return lambdaerr.InvalidParameter("Topics must name exactly one topic.")
	}
	if len(in.Queues) > 0 {
		return lambdaerr.InvalidParameter("Queues do not apply to a Kafka event source.")
	}
	for _, sa := range in.SourceAccessConfigurations {
		return lambdaerr.InvalidParameter("SourceAccessConfigurations of type %s are not supported for Kafka by this server: it connects to Kafka without authentication or TLS.", sa.Type)
	}
	return nil
}

// checkRabbit checks a RabbitMQ source's members.
func checkRabbit(in *Input) error {
	if len(in.Queues) != 1 {
		return lambdaerr.InvalidParameter("Queues must name exactly one queue.")
	}
	if len(in.Topics) > 0 {
		return lambdaerr.InvalidParameter("Topics do not apply to a RabbitMQ event source.")
	}
	return nil
}
