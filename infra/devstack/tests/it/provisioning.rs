use crate::support::emulator;
use devstack::resources::LocalResources;
use devstack::template::Template;
use std::collections::HashMap;

#[tokio::test]
async fn the_templates_tables_are_created_with_their_indexes_and_rerunning_keeps_them() {
    let template = Template::project().unwrap();
    let (dynamodb, sqs) = devstack::aws_clients(&emulator()).await.unwrap();
    let prefix = format!("p{}-", domain::ids::random_token(8));

    let first = LocalResources::provision(&template, &prefix, &dynamodb, &sqs, &emulator())
        .await
        .unwrap();
    let second = LocalResources::provision(&template, &prefix, &dynamodb, &sqs, &emulator())
        .await
        .unwrap();

    assert_eq!(first.tables, second.tables);
    assert_eq!(first.tables.len(), template.tables.len());
    assert_eq!(first.buckets, second.buckets, "an existing bucket is kept");
    assert_eq!(first.buckets.len(), template.buckets.len());
    assert_eq!(first.keys, second.keys, "an existing KMS key is kept");
    assert_eq!(first.keys.len(), template.keys.len());
    let catalog = dynamodb
        .describe_table()
        .table_name(&first.tables["CatalogTable"])
        .send()
        .await
        .unwrap();
    let indexes: Vec<_> = catalog
        .table()
        .unwrap()
        .global_secondary_indexes()
        .iter()
        .filter_map(|i| i.index_name().map(str::to_string))
        .collect();
    assert!(
        indexes.contains(&"ByCategory".to_string()) && indexes.contains(&"Shelf".to_string()),
        "{indexes:?}"
    );
}

#[tokio::test]
async fn queues_are_created_with_their_dead_letter_queues() {
    let template = Template::parse(
        r#"
Resources:
  JobsDlq: {Type: AWS::SQS::Queue, Properties: {MessageRetentionPeriod: 1209600}}
  Jobs:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 60
      RedrivePolicy: {deadLetterTargetArn: !GetAtt JobsDlq.Arn, maxReceiveCount: 5}
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      Environment: {Variables: {JOBS_QUEUE_URL: !Ref Jobs}}
"#,
    )
    .unwrap();
    let (dynamodb, sqs) = devstack::aws_clients(&emulator()).await.unwrap();
    let prefix = format!("q{}-", domain::ids::random_token(8));

    let local = LocalResources::provision(&template, &prefix, &dynamodb, &sqs, &emulator())
        .await
        .unwrap();

    let attributes = sqs
        .get_queue_attributes()
        .queue_url(&local.queue_urls["Jobs"])
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
        .send()
        .await
        .unwrap();
    let redrive = attributes.attributes().unwrap()
        [&aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy]
        .clone();
    assert!(redrive.contains(&local.queue_arns["JobsDlq"]), "{redrive}");
    let settings = local
        .settings_for(&template, &template.functions[0], &HashMap::new())
        .unwrap();
    assert_eq!(settings["JOBS_QUEUE_URL"], local.queue_urls["Jobs"]);
}

#[tokio::test]
async fn a_setting_only_a_deploy_gives_must_be_given_locally() {
    let template = Template::project().unwrap();
    let login = template
        .functions
        .iter()
        .find(|f| f.logical_id == "LoginFunction")
        .unwrap();
    let (dynamodb, sqs) = devstack::aws_clients(&emulator()).await.unwrap();
    let local = LocalResources::provision(
        &template,
        &format!("s{}-", domain::ids::random_token(8)),
        &dynamodb,
        &sqs,
        &emulator(),
    )
    .await
    .unwrap();

    let err = local
        .settings_for(&template, login, &HashMap::new())
        .unwrap_err();

    // The shop secret's ARN is a parameter without a default: the local stack sets it itself.
    assert!(err.to_string().contains("SHOP_SECRET_ARN"), "{err}");
}
