"""The flow-log and firewall-log engine: what Kentik needs in the logs, how to set them up, how to verify.

Formats and key layouts (pure):
    format          the VPC flow log record format (every v2-v5 field) and LogFormat strings
    tgw_format      the transit gateway flow log field set (its own, not the VPC one)
    keys            S3 key layouts of delivered flow log and firewall log files: build and parse
Setting up (planning is pure; executors call AWS):
    flowlogs        the flow log configuration a resource should have, and the plan (CreateFlowLogs batches)
    flowlog_executors   apply flow log changes (Create/DeleteFlowLogs) and the DescribeFlowLogs reads
    firewall        assess Network Firewall logging and plan one UpdateLoggingConfiguration step per change
    firewall_executors  apply those steps
Verifying delivery:
    sources         LogSource (one stream of log files into a bucket) and finding them in an account
    content         the content check of one delivered file
    report          SourceStatus: a source's state, detail and next step
    watch           the Watcher polling S3 for each source's new files

Import from the modules themselves; this package re-exports nothing.
"""
