/* sluice: the MySQL/MariaDB binlog source (COM_BINLOG_DUMP via MariaDB Connector/C, events
 * decoded by connectors/mysql/binlog.c); registered in worker/registry.c as "mysql". */
#ifndef SL_MYSQL_SOURCE_H
#define SL_MYSQL_SOURCE_H

#include "core/plugin.h"

extern const sl_source_ops_t sl_source_mysql;

#endif
