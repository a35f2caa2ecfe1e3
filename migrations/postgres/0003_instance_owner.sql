-- Which front door owns each instance ('osb': the Open Service Broker API, 'operator': the
-- Kubernetes operator); only that door may change, bind or read it. Every operation records its
-- instance's owner too, so a poll is checked without reading the instance (which a finished
-- deprovision has deleted). Rows from before this migration were all made through OSB.
ALTER TABLE instances ADD COLUMN owner text NOT NULL DEFAULT 'osb'
    CHECK (owner IN ('osb', 'operator'));
ALTER TABLE operations ADD COLUMN door text NOT NULL DEFAULT 'osb'
    CHECK (door IN ('osb', 'operator'));
