//! Open Service Broker API v2.17 front door (axum). Built in the OSB API issue.
