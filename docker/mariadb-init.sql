-- sluice: MariaDB set-up for docker/compose.yaml (runs once): a replication user and a
-- demo table in database shop.
CREATE USER 'sluice'@'%' IDENTIFIED BY 'sluice';
GRANT SELECT, RELOAD, SHOW DATABASES, REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO 'sluice'@'%';
CREATE TABLE shop.orders (
    id bigint AUTO_INCREMENT PRIMARY KEY,
    item varchar(100) NOT NULL,
    qty int NOT NULL,
    created_at timestamp(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
);
